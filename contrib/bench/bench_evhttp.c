/*
 * bench_evhttp.c - a bare libevent evhttp server: one event loop that
 * answers every request, whatever its method, path and body, with the same
 * small JSON body (200, Content-Type: application/json). It is the ceiling
 * of an HTTP endpoint built like payrouted's (one libevent loop, evhttp,
 * keep-alive) on this machine: contrib/bench/bench_explain.sh measures
 * POST /admin/v1/route/explain against it with the same request.
 *
 * Usage: bench_evhttp [--port N] [--body JSON] [--changelist]
 *
 * --changelist builds the event base with
 * EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST, as payrouted's loop is
 * (runtime/daemon.c): the ceiling of a server built like payrouted's
 * with libevent's settings too, where the default is libevent's defaults.
 *
 * Listens on 127.0.0.1:N only (0, the default: the kernel picks a port) and
 * prints "bench_evhttp listening on 127.0.0.1:PORT" on stdout once it
 * accepts connections. The default body is a small routing answer
 * ({"ok":true,...}, about 100 bytes). SIGTERM or SIGINT stops it. Links
 * libevent only.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

static const char *body =
	"{\"ok\":true,\"channel\":\"wx_native\",\"candidates\":1,"
	"\"reason\":\"bench_evhttp: a fixed answer\"}";
static size_t body_len;

static void on_request(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	(void)arg;
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", "application/json");
	evbuffer_add_reference(out, body, body_len, NULL, NULL);
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_evhttp [--port N] [--body JSON] "
		   "[--changelist]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "body", required_argument, NULL, 'b' },
		{ "changelist", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct event_base *base;
	struct event_config *ec;
	struct evhttp *http;
	struct evhttp_bound_socket *bs;
	struct event *sint, *sterm;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	long port = 0;
	int changelist = 0;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "p:b:lh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			errno = 0;
			port = strtol(optarg, &end, 10);
			if (errno || *end || port < 0 || port > 65535) {
				fprintf(stderr,
					"bench_evhttp: --port: 0..65535\n");
				return 2;
			}
			break;
		case 'b':
			body = optarg;
			break;
		case 'l':
			changelist = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	body_len = strlen(body);
	signal(SIGPIPE, SIG_IGN);
	ec = event_config_new();
	if (ec && changelist)
		event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = ec ? event_base_new_with_config(ec) : NULL;
	if (ec)
		event_config_free(ec);
	http = base ? evhttp_new(base) : NULL;
	if (!http) {
		fprintf(stderr, "bench_evhttp: cannot set up libevent\n");
		return 1;
	}
	evhttp_set_gencb(http, on_request, NULL);
	bs = evhttp_bind_socket_with_handle(http, "127.0.0.1",
					    (ev_uint16_t)port);
	if (!bs) {
		fprintf(stderr,
			"bench_evhttp: cannot listen on 127.0.0.1:%ld\n", port);
		return 1;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa,
			&sl) != 0) {
		perror("bench_evhttp: getsockname");
		return 1;
	}
	sint = evsignal_new(base, SIGINT, on_signal, base);
	sterm = evsignal_new(base, SIGTERM, on_signal, base);
	if (!sint || !sterm || evsignal_add(sint, NULL) != 0 ||
	    evsignal_add(sterm, NULL) != 0) {
		fprintf(stderr, "bench_evhttp: cannot catch signals\n");
		return 1;
	}
	printf("bench_evhttp listening on 127.0.0.1:%u\n",
	       (unsigned)ntohs(sa.sin_port));
	fflush(stdout);
	event_base_dispatch(base);
	event_free(sint);
	event_free(sterm);
	evhttp_free(http);
	event_base_free(base);
	return 0;
}
