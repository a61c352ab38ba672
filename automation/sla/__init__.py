"""SLAs with business hours: calendar arithmetic (calendar), the clocks of a ticket (clocks), the monitor and its
Celery tasks (monitor, tasks), and the settings pages with their write services (views, forms, services)."""
