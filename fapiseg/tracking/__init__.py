"""MLflow helpers: where the store is, what a run is called, which parameters are logged, `fapiseg compare`."""
