/*
 * wastewatch's guard plugins for Mosquitto 2.0 (plugin API v5).
 *
 * Built twice from this one file, because Mosquitto asks the plugins of an
 * event in the order they are loaded and the first answer that is not "defer"
 * decides:
 *
 *   ww_login_guard.so  (-DWW_LOGIN_GUARD), loaded BEFORE the dynamic security
 *       plugin: counts login attempts per client address in a sliding window
 *       and refuses further attempts from an address over the limit without
 *       checking the password (a flood costs the broker no PBKDF2 work); the
 *       refusal is published, once per window per address, as JSON on
 *       $SYS/broker/wastewatch/login-refused.
 *
 *   ww_denial_watch.so (-DWW_DENIAL_WATCH), loaded AFTER the dynamic security
 *       plugin: dynsec answers an ACL check itself when a role grants the topic
 *       and defers when nothing does (default deny), so this plugin is asked
 *       exactly for the publishes and subscriptions that are about to be denied.
 *       Under MQTT 3.1.1 the broker still PUBACKs a denied publish and drops it,
 *       so a device provisioned with the wrong city or id would believe every
 *       reading delivered.  Each denial is published as JSON on
 *       $SYS/broker/wastewatch/denied (at most one message per client per
 *       second; the others are counted into the next), where the ingest bridge
 *       forwards it to waste.broker.v1; the sink stores it in broker_events,
 *       which the Fleet board and `wastewatch devices refused` show.  It always
 *       defers: the broker's default deny stands.
 *
 * Both log at NOTICE level too.  Options (plugin_opt_*):
 *   login guard:  max_attempts (20), window_s (10), exempt (space-separated
 *                 addresses never limited, e.g. "127.0.0.1")
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define SLOTS 4096
#define KEY_LEN 128

struct slot {
	char key[KEY_LEN];
	time_t since;     /* start of the current window (login guard) or last event sent */
	unsigned count;   /* attempts in the window, or denials not yet reported */
	bool reported;    /* login guard: refusal already published this window */
};

static mosquitto_plugin_id_t *plugin_id;
static struct slot slots[SLOTS];

static unsigned long hash(const char *text)
{
	unsigned long h = 5381;
	for(; *text; text++){
		h = h * 33 + (unsigned char)*text;
	}
	return h;
}

/* The slot of `key`; a colliding older key is evicted (bounded memory, best effort). */
static struct slot *slot_for(const char *key)
{
	struct slot *s = &slots[hash(key) % SLOTS];
	if(strncmp(s->key, key, KEY_LEN - 1) != 0){
		memset(s, 0, sizeof(*s));
		snprintf(s->key, KEY_LEN, "%s", key);
	}
	return s;
}

/* JSON string body: quotes, backslashes and control characters escaped, bounded. */
static void json_escape(char *out, size_t size, const char *in)
{
	size_t n = 0;
	if(!in) in = "";
	for(; *in && n + 7 < size; in++){
		unsigned char c = (unsigned char)*in;
		if(c == '"' || c == '\\'){
			out[n++] = '\\';
			out[n++] = (char)c;
		}else if(c < 0x20){
			n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
		}else{
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
}

static void publish(const char *topic, const char *json)
{
	mosquitto_broker_publish_copy(NULL, topic, (int)strlen(json), json, 1, false, NULL);
}

#ifdef WW_LOGIN_GUARD

static unsigned max_attempts = 20;
static long window_s = 10;
static char exempt[1024] = "";

static bool is_exempt(const char *address)
{
	char padded[KEY_LEN + 2];
	char list[sizeof(exempt) + 2];
	snprintf(padded, sizeof(padded), " %s ", address);
	snprintf(list, sizeof(list), " %s ", exempt);
	return strstr(list, padded) != NULL;
}

static int on_basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *ed = event_data;
	const char *address = mosquitto_client_address(ed->client);
	(void)event;
	(void)userdata;
	if(!address || is_exempt(address)){
		return MOSQ_ERR_PLUGIN_DEFER;
	}
	time_t now = time(NULL);
	struct slot *s = slot_for(address);
	if(now - s->since >= window_s){
		s->since = now;
		s->count = 0;
		s->reported = false;
	}
	s->count++;
	if(s->count <= max_attempts){
		return MOSQ_ERR_PLUGIN_DEFER;
	}
	if(!s->reported){
		char user[192], json[512];
		s->reported = true;
		json_escape(user, sizeof(user), ed->username);
		mosquitto_log_printf(MOSQ_LOG_NOTICE,
				"wastewatch guard: refusing logins from %s: more than %u attempts in %ld s",
				address, max_attempts, window_s);
		snprintf(json, sizeof(json),
				"{\"event\":\"login_refused\",\"address\":\"%s\",\"username\":\"%s\","
				"\"attempts\":%u,\"window_s\":%ld,\"at\":%ld}",
				address, user, s->count, window_s, (long)now);
		publish("$SYS/broker/wastewatch/login-refused", json);
	}
	return MOSQ_ERR_AUTH;
}

#endif

#ifdef WW_DENIAL_WATCH

static int on_acl_check(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_acl_check *ed = event_data;
	(void)event;
	(void)userdata;
	if(ed->access != MOSQ_ACL_WRITE && ed->access != MOSQ_ACL_SUBSCRIBE){
		return MOSQ_ERR_PLUGIN_DEFER;
	}
	const char *client_id = mosquitto_client_id(ed->client);
	const char *username = mosquitto_client_username(ed->client);
	time_t now = time(NULL);
	struct slot *s = slot_for(client_id ? client_id : "");
	s->count++;
	if(s->since == now){
		return MOSQ_ERR_PLUGIN_DEFER; /* counted into the next report */
	}
	char cid[192], user[192], topic[600], address[64], json[1400];
	const char *what = ed->access == MOSQ_ACL_WRITE ? "publish" : "subscribe";
	json_escape(cid, sizeof(cid), client_id);
	json_escape(user, sizeof(user), username);
	json_escape(topic, sizeof(topic), ed->topic);
	json_escape(address, sizeof(address), mosquitto_client_address(ed->client));
	mosquitto_log_printf(MOSQ_LOG_NOTICE,
			"wastewatch guard: denied %s by %s (user %s) on %s (%u since the last report)",
			what, cid, user, topic, s->count);
	snprintf(json, sizeof(json),
			"{\"event\":\"denied\",\"access\":\"%s\",\"client_id\":\"%s\",\"username\":\"%s\","
			"\"address\":\"%s\",\"topic\":\"%s\",\"count\":%u,\"at\":%ld}",
			what, cid, user, address, topic, s->count, (long)now);
	publish("$SYS/broker/wastewatch/denied", json);
	s->since = now;
	s->count = 0;
	return MOSQ_ERR_PLUGIN_DEFER;
}

#endif

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for(int i = 0; i < supported_version_count; i++){
		if(supported_versions[i] == 5) return 5;
	}
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
		struct mosquitto_opt *opts, int opt_count)
{
	(void)userdata;
	plugin_id = identifier;
	memset(slots, 0, sizeof(slots));
#ifdef WW_LOGIN_GUARD
	for(int i = 0; i < opt_count; i++){
		if(!strcmp(opts[i].key, "max_attempts")){
			max_attempts = (unsigned)strtoul(opts[i].value, NULL, 10);
		}else if(!strcmp(opts[i].key, "window_s")){
			window_s = strtol(opts[i].value, NULL, 10);
		}else if(!strcmp(opts[i].key, "exempt")){
			snprintf(exempt, sizeof(exempt), "%s", opts[i].value);
		}
	}
	if(max_attempts == 0 || window_s <= 0){
		mosquitto_log_printf(MOSQ_LOG_ERR, "wastewatch guard: max_attempts and window_s must be > 0");
		return MOSQ_ERR_INVAL;
	}
	return mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL);
#else
	(void)opts;
	(void)opt_count;
	return mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL);
#endif
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts, int opt_count)
{
	(void)userdata;
	(void)opts;
	(void)opt_count;
#ifdef WW_LOGIN_GUARD
	return mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
#else
	return mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
#endif
}
