#!/bin/sh
# Entrypoint of the compose mosquitto service (eclipse-mosquitto:2 image).
#
# Accounts, client-id bindings and ACLs are the dynamic security plugin's, in
# /mosquitto/data/dynamic-security.json (the mosquitto-data volume). The one-shot
# mqtt-auth service wrote that file (`wastewatch devices broker-state`: service
# passwords from .env, devices from deploy/mosquitto/devices) before this container
# started; while the broker runs, the plugin rewrites it on every live change
# (ww-admin). So this script never touches its contents. It only:
#   - copies the TLS certificate and key (/mosquitto/tls) into a tmpfs
#     (/mosquitto/auth/tls), readable by the mosquitto user only;
#   - hands /mosquitto/data to the mosquitto user (mqtt-auth writes as root; the
#     plugin must read the file and replace it in place), the plugin's file mode 600;
# then runs the broker in the foreground. Mosquitto drops to the `mosquitto` user
# itself.
set -eu

auth_dir=/mosquitto/auth
tls_in=/mosquitto/tls
dynsec_file=/mosquitto/data/dynamic-security.json

for f in server.pem server.key ca.pem; do
    if [ ! -s "$tls_in/$f" ]; then
        echo "mosquitto: $tls_in/$f is missing: run \`wastewatch tls server-cert\` (deploy/mosquitto/tls/README.md)" >&2
        exit 1
    fi
done
if [ ! -s "$dynsec_file" ]; then
    echo "mosquitto: $dynsec_file is missing: the mqtt-auth service writes it (\`docker compose up -d\` runs it first; \`docker compose logs mqtt-auth\` says why it did not)" >&2
    exit 1
fi

umask 077
mkdir -p "$auth_dir/tls"
cp "$tls_in/server.pem" "$tls_in/server.key" "$tls_in/ca.pem" "$auth_dir/tls/"
chown -R mosquitto:mosquitto "$auth_dir" /mosquitto/data
chmod -R go-rwx "$auth_dir"
chmod 600 "$dynsec_file"

exec /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf
