"""The REST API (``/api/v1``) and the project page's 'Use from code' section."""
