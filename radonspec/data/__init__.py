"""Data: load CSV, Parquet or a bundled data set, prepare the used columns, fingerprint them."""
