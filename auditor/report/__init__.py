"""Reports: pure tables and renderers, and the one writer module that touches the disk."""
