"""Request (``XCreate``) and response (``XPublic``) models of the API."""
