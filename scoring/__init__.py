"""jpsi-score: Parquet/CSV files of kinematic points scored in process, on Dask or through the service."""
