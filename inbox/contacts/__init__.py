"""The contacts screens of the agent workspace (issue 21, social CRM): the contacts list (search, filters, segments,
bulk tag, CSV import and export), the 360° profile and its compact copy beside the conversation, and the custom
attribute settings. The writes are tickets' contact services; this package reads, renders and parses."""
