#!/usr/bin/env bash
# Spark 4 needs Java 17 or 21: fail early with a clear message instead of a JVM stack trace.
set -euo pipefail
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
if ! command -v "$JAVA" >/dev/null 2>&1; then
  echo "ERROR: Java 17 (or 21) is required by Spark and was not found." >&2
  echo "       Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless ; macOS: brew install openjdk@17" >&2
  exit 1
fi
VERSION_LINE="$("$JAVA" -version 2>&1 | head -n1)"
if ! echo "$VERSION_LINE" | grep -Eq '"(17|21)[."]'; then
  echo "ERROR: Spark 4 needs Java 17 or 21; found: $VERSION_LINE" >&2
  echo "       Install openjdk-17 and point JAVA_HOME at it." >&2
  exit 1
fi
echo "java ok: $VERSION_LINE"
