"""Optional integrations with other libraries, imported only when used."""
