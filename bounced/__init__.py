"""bounced: keeps a mailing list healthy from Amazon SES feedback."""

__version__ = "0.1.0"
