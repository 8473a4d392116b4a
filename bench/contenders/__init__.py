"""Scripts the harness runs as contenders, each in a fresh subprocess."""
