/*
 * config.h - the INI configuration: loading, validation, defaults.
 *
 * The file is read with inih through a reader that counts lines, so every
 * diagnostic names "file:line: key: problem".  Keys live in one table in
 * config.c ({section kind, name, type, offset, default, min, max}); an
 * unknown section or key is an error, never ignored.  `${VAR}` in a value
 * is replaced from the environment and `$$` stands for a literal `$`.
 *
 * The loaded struct config is read-only for the rest of the program and is
 * handed around as `const struct config *`; modules receive their part.
 */
#ifndef SYSMONFWD_CONFIG_H
#define SYSMONFWD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_NAME_MAX		64	/* section names: [A-Za-z0-9_.-]+ */
#define CONFIG_MAX_INPUTS	64
#define CONFIG_MAX_OUTPUTS	16
#define CONFIG_DEFAULT_PATH	"/etc/sysmonfwd/sysmonfwd.conf"

enum config_input_type {
	CONFIG_INPUT_FILE = 1,
	CONFIG_INPUT_JOURNALD,		/* sd-journal (Linux) */
	CONFIG_INPUT_EVTX,		/* .evtx files (libevtx) */
	CONFIG_INPUT_EVENTLOG,		/* EvtSubscribe (Windows builds) */
};

enum config_output_type {
	CONFIG_OUTPUT_FILE = 1,
	CONFIG_OUTPUT_STDOUT,
	CONFIG_OUTPUT_SPLUNK_HEC,
	CONFIG_OUTPUT_ELASTICSEARCH,
	CONFIG_OUTPUT_WAZUH,
	CONFIG_OUTPUT_WAZUH_AGENT,	/* the Wazuh agent protocol (1514) */
};

enum config_format { CONFIG_FORMAT_XML = 0, CONFIG_FORMAT_JSON };
enum config_compression { CONFIG_COMPRESS_GZIP = 0, CONFIG_COMPRESS_NONE };

enum config_start {
	CONFIG_START_BEGINNING = 0,
	CONFIG_START_END,
};

struct config_agent {
	char		*name;		/* agent.name; default: host name */
	char		*state_dir;	/* positions, later the ring */
	int		 log_level;	/* enum log_level */
	uint64_t	 heartbeat_interval_ms;	/* 0: no heartbeats */
};

/* [watchdog]: is Sysmon running? */
struct config_watchdog {
	bool		 enabled;
	char		*sysmon_service; /* systemd unit or process name */
	uint64_t	 check_interval_ms;
	uint64_t	 silence_alert_ms; /* 0: off */
};

/* [monitor]: the local health and metrics endpoint. */
struct config_monitor {
	char		*listen;	/* "127.0.0.1:2020"; NULL: off */
};

/*
 * [filter] and [tag]: a rules file each, in Sysmon's <EventFiltering>
 * schema (agent/policy reads and checks it; config only keeps the path).
 */
struct config_rules {
	char		*rules;		/* the file; NULL: none */
	int		 line;		/* where rules = was set, else 0 */
};

/*
 * [redact:NAME]: command-line redaction before the ring (agent/policy/
 * redact.c).  The pattern is checked here with PCRE2 (the same options as
 * the redactor's); the key is read from key_file, a secret file.
 */
#define CONFIG_MAX_REDACTS	16
enum config_replace { CONFIG_REPLACE_HMAC = 0, CONFIG_REPLACE_REMOVE };

struct config_redact {
	char		 name[CONFIG_NAME_MAX + 1];
	char		*fields;	/* EventData names, comma-separated */
	char		*arguments;	/* argument names, comma-separated;
					   NULL: none */
	char		*pattern;	/* PCRE2; NULL: none */
	int		 replace;	/* enum config_replace */
	char		*key_file;
	char		*key;		/* secret (key_file's line): never
					   logged, zeroed when freed */
	int		 line;		/* where the section starts */
};

/* [buffer]: the disk ring under state_dir/buffer (buffer/buffer.h). */
enum config_full { CONFIG_FULL_DROP_OLDEST = 0, CONFIG_FULL_BLOCK };
enum config_fsync { CONFIG_FSYNC_INTERVAL = 0, CONFIG_FSYNC_ALWAYS,
	CONFIG_FSYNC_NEVER };

struct config_buffer {
	uint64_t	 max_size;
	uint64_t	 segment_size;
	uint64_t	 block_size;
	uint64_t	 flush_interval_ms;
	int		 full;		/* enum config_full */
	int		 fsync;		/* enum config_fsync */
	uint64_t	 fsync_interval_ms;
	uint64_t	 compression_level;
	uint64_t	 max_record_size;
	uint64_t	 max_pending_size;
	int		 line;
};

struct config_input {
	char		 name[CONFIG_NAME_MAX + 1];
	int		 type;		/* enum config_input_type */
	char		*path;		/* "-" is standard input */
	bool		 follow;	/* tail -F semantics */
	int		 start;		/* enum config_start, first run only */
	uint64_t	 max_line_size;	/* longer lines are cut and tagged */
	uint64_t	 poll_interval_ms; /* follow: how often to look */
	bool		 keep_other_lines; /* forward non-record lines */
	/* journald */
	char		*match;		/* "FIELD=value ..."; "+" between
					   groups means OR */
	char		*journal_dir;	/* read journal files from here */
	/* eventlog */
	char		*channel;
	char		*query;		/* XPath */
	int		 line;		/* where the section starts */
};

struct config_output {
	char		 name[CONFIG_NAME_MAX + 1];
	int		 type;		/* enum config_output_type */
	char		*path;		/* type file */
	bool		 keep_original;	/* add event.original */
	uint64_t	 batch_max_events;
	uint64_t	 batch_max_bytes;
	uint64_t	 flush_interval_ms;
	uint64_t	 retry_initial_ms;
	uint64_t	 retry_max_ms;
	uint64_t	 retry_after_max_ms;	/* Retry-After honoured up to */
	/* HTTP outputs */
	char		*url;		/* elasticsearch: comma-separated list */
	char		*token;		/* secret: never logged */
	char		*token_file;
	/* elasticsearch: api_key ("id:key" or the encoded form), or user +
	 * password (basic), or neither */
	char		*api_key;	/* secret */
	char		*api_key_file;
	char		*user;
	char		*password;	/* secret */
	char		*password_file;
	char		*namespace;	/* data stream namespace */
	char		*pipeline;	/* ingest pipeline override */
	uint64_t	 max_requests_per_minute; /* wazuh: to /events */
	/* wazuh_agent: the Wazuh agent protocol */
	char		*manager;	/* comma-separated: failover in order */
	uint64_t	 port;		/* remoted, TCP */
	uint64_t	 enrollment_port; /* authd, TLS */
	char		*enrollment_password_file;
	char		*enrollment_password;	/* secret, from the file */
	char		*enrollment_ca_file;	/* verify authd when given */
	char		*agent_name;	/* default: [agent] name */
	char		*agent_groups;	/* comma-separated */
	char		*agent_version;	/* the Wazuh version we announce */
	uint64_t	 keepalive_interval_ms;
	uint64_t	 max_events_per_second;
	const char	*inline_secret;	/* name of a secret key written in
					   the file itself, or NULL */
	int		 format;	/* enum config_format */
	int		 compression;	/* enum config_compression */
	uint64_t	 timeout_ms;
	char		*index;
	char		*source;
	char		*sourcetype;
	char		*host;
	bool		 ack;
	uint64_t	 ack_timeout_ms;
	uint64_t	 ack_poll_interval_ms;
	char		*tls_ca_file;
	char		*tls_ca_path;
	char		*tls_client_cert;
	char		*tls_client_key;
	int		 tls_min_version;	/* 12 or 13 */
	char		*tls_pinned_pubkey;
	bool		 tls_verify;
	char		*proxy;
	int		 line;
};

struct config {
	char			*path;	/* the file it came from */
	struct config_agent	 agent;
	struct config_buffer	 buffer;
	struct config_watchdog	 watchdog;
	struct config_monitor	 monitor;
	struct config_rules	 filter;	/* [filter] */
	struct config_rules	 tag;		/* [tag] */
	struct config_input	*inputs;
	size_t			 ninputs;
	struct config_output	*outputs;
	size_t			 noutputs;
	struct config_redact	*redacts;	/* [redact:NAME], in order */
	size_t			 nredacts;
};

/* Diagnostics collected while loading; each is "file:line: key: problem". */
struct config_diag {
	char	**msgs;
	size_t	  n;
};

/*
 * Load and validate the INI file at path.  On success store a new config in
 * *out (free with config_free()) and return 0.  On failure return -EINVAL
 * (or -errno when the file cannot be read); every problem found, not only
 * the first, is appended to diag (free with config_diag_free()).  -ENOMEM:
 * an allocation failed, which says nothing about the file (diag may be
 * incomplete).
 */
int	config_load_file(const char *path, struct config **out,
	    struct config_diag *diag) __attribute__((warn_unused_result));
/* Same, from a string; name stands for the file name in diagnostics. */
int	config_load_string(const char *name, const char *text,
	    struct config **out, struct config_diag *diag)
	    __attribute__((warn_unused_result));
void	config_free(struct config *cfg);
void	config_diag_free(struct config_diag *diag);

/*
 * Parse a size ("512", "64KiB", "1 MiB", "2G"; K/KB/KiB are all 1024) or a
 * duration ("250ms", "1s", "5m", "2h"; a bare number is seconds) into
 * *out.  Return 0, or -EINVAL with a static reason in *why.
 */
int	config_parse_size(const char *s, uint64_t *out, const char **why);
int	config_parse_duration_ms(const char *s, uint64_t *out,
	    const char **why);
int	config_parse_bool(const char *s, bool *out);
/* "HOST:PORT" or "[V6]:PORT" into host (may be NULL) and *port.  0 or
 * -EINVAL. */
int	config_parse_listen(const char *s, char *host, size_t hostlen,
	    int *port);

const char *config_input_type_name(int type);
const char *config_output_type_name(int type);

#endif
