"""``python -m shipper`` does what ``rds-log-shipper`` does."""

from shipper.cli import console_main

if __name__ == "__main__":
    console_main()
