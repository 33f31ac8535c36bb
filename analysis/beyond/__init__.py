"""Beyond the paper: specification checks, robustness, counterfactuals."""
