#!/bin/sh
set -eu
echo "starting on $HOSTNAME"
exec /app --flag "value with spaces"
