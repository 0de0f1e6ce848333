#!/usr/bin/env bash
# Scenario 02 (a 2 s multicast outage of metro m1, 9 clients) at HD rates (issue 12): 1,000
# packets/s, a 200 ms buffer, the source's relay as the last resort.
# lab: release
LAB_HD=1 exec bash "$(dirname "$0")/02-metro-outage.sh"
