"""kefu (客服): an offline, bilingual AI customer-service platform."""

__version__ = "0.1.0"
