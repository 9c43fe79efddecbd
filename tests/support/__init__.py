"""What the tests share: one local S3 (``s3``), one way to run the shipper and one result type
(``runs``), simulated AWS worlds (``world``), and in-memory fakes for fast unit tests
(``fakes``). The fixtures are registered for every test by ``tests/conftest.py``."""
