"""dkscan: security and compliance audit scanner for production container stacks."""

__version__ = "0.1.0"
