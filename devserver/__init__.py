"""What `make run`, the tests and the benchmarks start on this machine: the Temporal dev server with the
worker, codec server and demo cases beside it, free loopback ports, a throwaway PostgreSQL."""
