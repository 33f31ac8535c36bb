"""Exhibits: tables laid out for print, figures, the replication report."""
