"""Running nook on one machine: private services, scheduler, demo wiring."""
