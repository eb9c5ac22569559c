#!/bin/sh
# Entrypoint of the compose mosquitto service (eclipse-mosquitto:2 image).
# Writes, on every start, into a tmpfs (so no secret is stored in the repository
# or in a volume):
#   /mosquitto/auth/passwd    the service accounts (passwords from the environment,
#                             hashed by mosquitto_passwd) and the provisioned
#                             devices' hashes (/mosquitto/devices/passwd)
#   /mosquitto/auth/acl.conf  the service accounts' ACL (acl.conf beside this file)
#                             and the devices' blocks (/mosquitto/devices/acl.conf)
#   /mosquitto/auth/tls/      the TLS certificate and key (/mosquitto/tls), readable
#                             by the mosquitto user only
# then runs the broker in the foreground. Mosquitto drops to the `mosquitto` user
# itself. The service account names are fixed: acl.conf grants by name.
set -eu

: "${WW_MQTT_BRIDGE_PASSWORD:?WW_MQTT_BRIDGE_PASSWORD is not set}"
: "${WW_MQTT_SIM_PASSWORD:?WW_MQTT_SIM_PASSWORD is not set}"
: "${WW_MQTT_OPS_PASSWORD:?WW_MQTT_OPS_PASSWORD is not set}"
: "${WW_MQTT_WEIGHBRIDGE_PASSWORD:?WW_MQTT_WEIGHBRIDGE_PASSWORD is not set}"

auth_dir=/mosquitto/auth
passwd_file="$auth_dir/passwd"
devices=/mosquitto/devices
tls_in=/mosquitto/tls

for f in server.pem server.key ca.pem; do
    if [ ! -s "$tls_in/$f" ]; then
        echo "mosquitto: $tls_in/$f is missing: run \`wastewatch tls server-cert\` (deploy/mosquitto/tls/README.md)" >&2
        exit 1
    fi
done

umask 077
mkdir -p "$auth_dir/tls"
# -c creates (truncates) the file; -b takes the password from the command line.
mosquitto_passwd -c -b "$passwd_file" ww-bridge "$WW_MQTT_BRIDGE_PASSWORD"
mosquitto_passwd -b "$passwd_file" ww-sim "$WW_MQTT_SIM_PASSWORD"
mosquitto_passwd -b "$passwd_file" ww-ops "$WW_MQTT_OPS_PASSWORD"
mosquitto_passwd -b "$passwd_file" ww-weighbridge "$WW_MQTT_WEIGHBRIDGE_PASSWORD"
if [ -f "$devices/passwd" ]; then
    cat "$devices/passwd" >> "$passwd_file"
fi
cp /mosquitto/config/acl.conf "$auth_dir/acl.conf"
if [ -f "$devices/acl.conf" ]; then
    printf '\n' >> "$auth_dir/acl.conf"
    cat "$devices/acl.conf" >> "$auth_dir/acl.conf"
fi
cp "$tls_in/server.pem" "$tls_in/server.key" "$tls_in/ca.pem" "$auth_dir/tls/"
chown -R mosquitto:mosquitto "$auth_dir" /mosquitto/data
chmod -R go-rwx "$auth_dir"

exec /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf
