#!/bin/sh
# Entrypoint of the compose mosquitto service (eclipse-mosquitto:2 image).
# Writes the password file from the environment on every start, into a tmpfs,
# so that no secret is stored in the repository or in a volume, then runs the
# broker in the foreground. Mosquitto drops to the `mosquitto` user itself.
set -eu

: "${WW_MQTT_USER:?WW_MQTT_USER is not set}"
: "${WW_MQTT_PASSWORD:?WW_MQTT_PASSWORD is not set}"
: "${WW_MQTT_DEVICE_USER:?WW_MQTT_DEVICE_USER is not set}"
: "${WW_MQTT_DEVICE_PASSWORD:?WW_MQTT_DEVICE_PASSWORD is not set}"

auth_dir=/mosquitto/auth
passwd_file="$auth_dir/passwd"

umask 077
mkdir -p "$auth_dir"
# -c creates (truncates) the file; -b takes the password from the command line.
mosquitto_passwd -c -b "$passwd_file" "$WW_MQTT_USER" "$WW_MQTT_PASSWORD"
mosquitto_passwd -b "$passwd_file" "$WW_MQTT_DEVICE_USER" "$WW_MQTT_DEVICE_PASSWORD"
chown -R mosquitto:mosquitto "$auth_dir" /mosquitto/data
chmod 0600 "$passwd_file"

exec /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf
