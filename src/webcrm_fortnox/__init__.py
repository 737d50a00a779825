"""webcrm-fortnox: keeps webCRM and Fortnox in step, both ways, without double entry."""

__version__ = "0.1.0"
