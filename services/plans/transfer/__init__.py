"""Import and export of whole plans (JSON) and of a plan's lines (CSV).

``documents`` is the format and its rules (no I/O); ``handlers`` writes a valid document;
``views`` reads a plan back as a document; ``api`` holds the routes.
"""
