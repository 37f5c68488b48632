#!/bin/sh
# disk_usage: print the usage of CL_PARAM_PATH; exit 1 when above CL_PARAM_WARN_PERCENT.
set -eu
path=${CL_PARAM_PATH:-/}
limit=${CL_PARAM_WARN_PERCENT:-90}
used=$(df -P -- "$path" | awk 'NR==2 { sub("%", "", $5); print $5 }')
echo "$path is ${used}% full (limit ${limit}%)"
if [ "$used" -gt "$limit" ]; then
	echo "$path is above ${limit}%" >&2
	exit 1
fi
