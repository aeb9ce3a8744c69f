"""The command options shared by several edge-* commands: declarations, ranges, YAML files."""
