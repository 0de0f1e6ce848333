#!/usr/bin/env bash
# Scenario 01 (12 clients, 5 % loss each and 3 % per metro trunk on the multicast media) at HD
# rates (issue 12): 1,000 packets/s, a 200 ms buffer, the source's relay as the last resort.
# lab: release
LAB_HD=1 exec bash "$(dirname "$0")/01-loss-12-clients.sh"
