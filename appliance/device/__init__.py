"""The appliance on its device: the files the install writes from the settings (the udev rule for
the robot's controller, the display compositor's configuration) and ``kiosk doctor``'s checks.
The scripts and static units themselves are in ``deploy/``."""
