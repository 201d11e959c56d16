/*
 * The daemon's one logging API: to stderr in the foreground (keygated run),
 * one line per message with a level tag. Never log key text or secret bytes.
 */
#ifndef KG_LOG_H
#define KG_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Messages above level are dropped. Default LOG_LEVEL_INFO. */
void	log_set_level(enum log_level level);
bool	log_debug_enabled(void);	/* skip building what only a debug line shows */
int	log_level_parse(const char *s, enum log_level *out);	/* error|warn|info|debug */

/* Route libevent's own messages into this API. */
void	log_route_libevent(void);

void	log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Log at error level and exit(1): start-up failures and broken invariants only. */
void	fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
