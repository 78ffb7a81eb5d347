"""Events published by the meetings service on ``accord.meetings.events``."""

SOURCE = "/accord/meetings"
