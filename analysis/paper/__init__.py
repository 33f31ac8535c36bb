"""The paper's analyses: its model set and Tables 1-4 as tidy frames."""
