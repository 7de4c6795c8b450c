"""Dataset I/O: read Alpaca / ShareGPT / Parquet / HF-on-disk data into one schema, losing no row."""
