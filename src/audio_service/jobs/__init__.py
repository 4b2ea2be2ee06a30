"""Jobs: their records, the service that creates them and the runner that executes them."""
