"""The probe's rules (LIVE): what `dkscan probe URL STACK` observes on the running gateway, judged against
the stack. One module per family; run by `dkscan probe`, silent under `dkscan audit`."""
