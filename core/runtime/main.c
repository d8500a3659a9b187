/*
 * main.c - payrouted's command line: read and check the config, test it
 * (-t, like nginx -t), optionally detach, and run the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/cfgtest.h"
#include "runtime/config.h"
#include "runtime/daemon.h"
#include "runtime/loader.h"
#include "runtime/log.h"

#ifndef PR_SYSCONFDIR
#define PR_SYSCONFDIR "/etc"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: payrouted [-c file] [-t] [-f] [-V] [--options]\n"
		"  -c, --config FILE  configuration file (default %s)\n"
		"  -t, --test         check the configuration, the driver "
		"directory and the\n"
		"                     stored channels' driver configs, then "
		"exit\n"
		"  -f, --foreground   stay in the foreground\n"
		"  -V, --version      print the version and exit\n"
		"      --options      list every configuration option and exit\n"
		"  -h, --help         this text\n",
		PR_SYSCONFDIR "/payrouted.conf");
}

static void print_options(void)
{
	static const char *const types[] = { "string", "int",	"bool",
					     "listen", "level", "list" };

	for (const struct pr_option *o = pr_config_options(); o->path; o++)
		printf("%s\t%s\t%s\t%s\n", o->path, types[o->type],
		       o->restart_only ? "restart" : "reload", o->help);
}

/* nginx -t: the config, then every driver of the driver directory, then
 * the channels stored in the database against those drivers (skipped,
 * and said, when the store cannot be reached). */
static int test_config(const char *path)
{
	struct pr_driver_set set;
	struct pr_config *cfg = NULL;
	char err[1024];
	int ok = 1;

	if (pr_config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "payrouted: %s\n", err);
		fprintf(stderr,
			"payrouted: configuration file %s test failed\n", path);
		return 1;
	}
	fprintf(stderr, "payrouted: the configuration file %s syntax is ok\n",
		path);
	pr_log_set_level(PAYROUTE_LOG_WARN);
	if (pr_loader_init() < 0) {
		ok = 0;
	} else if (pr_loader_scan(cfg->driver_dir, NULL, 0, &set, err,
				  sizeof(err)) < 0) {
		fprintf(stderr, "payrouted: %s\n", err);
		ok = 0;
	} else {
		for (size_t i = 0; i < set.n; i++)
			fprintf(stderr,
				"payrouted: driver %s %s (ABI %u.%u) from %s: "
				"ok\n",
				set.mods[i]->desc->name,
				set.mods[i]->desc->version,
				(unsigned)set.mods[i]->desc->abi_major,
				(unsigned)set.mods[i]->desc->abi_minor,
				set.mods[i]->path);
		if (set.refused) {
			fprintf(stderr,
				"payrouted: %zu driver file(s) in %s refused "
				"(see above)\n",
				set.refused, cfg->driver_dir);
			ok = 0;
		}
		if (pr_cfgtest_channels(cfg, &set, stderr) > 0)
			ok = 0;
		pr_driver_set_release(&set);
		pr_loader_exit();
	}
	pr_config_free(cfg);
	fprintf(stderr, "payrouted: configuration file %s test %s\n", path,
		ok ? "is successful" : "failed");
	return ok ? 0 : 1;
}

static int detach(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		return -errno;
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "version", no_argument, NULL, 'V' },
		{ "options", no_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = PR_SYSCONFDIR "/payrouted.conf";
	int test = 0, foreground = 0, opt, rc;
	struct pr_config *cfg = NULL;
	struct pr_daemon d;
	char err[1024], *abs = NULL;

	while ((opt = getopt_long(argc, argv, "c:tfVh", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'V':
			printf("payrouted %s (driver ABI %d.%d)\n", PR_VERSION,
			       PAYROUTE_ABI_MAJOR, PAYROUTE_ABI_MINOR);
			return 0;
		case 'O':
			print_options();
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	if (test)
		return test_config(path);

	/* Reloads re-read the file after a possible chdir("/"). */
	abs = realpath(path, NULL);
	if (pr_config_load(abs ? abs : path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "payrouted: %s\n", err);
		free(abs);
		return 1;
	}
	if (!foreground && strcmp(cfg->log_target, "stderr") == 0) {
		fprintf(stderr, "payrouted: log.target is stderr but payrouted "
				"detaches: logging to syslog (use -f to stay "
				"in the foreground)\n");
		free(cfg->log_target);
		cfg->log_target = strdup("syslog");
	}
	if (pr_log_open(cfg->log_target, err, sizeof(err)) < 0) {
		fprintf(stderr, "payrouted: %s\n", err);
		pr_config_free(cfg);
		free(abs);
		return 1;
	}
	pr_log_set_level((enum payroute_log_level)cfg->log_level);
	if (!foreground && (rc = detach()) < 0) {
		fprintf(stderr, "payrouted: cannot detach: %s\n",
			strerror(-rc));
		pr_config_free(cfg);
		free(abs);
		return 1;
	}
	rc = pr_daemon_start(&d, abs ? abs : path, cfg, err, sizeof(err));
	free(abs);
	if (rc < 0) {
		pr_err("cannot start: %s", err);
		if (foreground &&
		    strcmp(d.gen ? d.gen->config->log_target : "stderr",
			   "stderr") != 0)
			fprintf(stderr, "payrouted: cannot start: %s\n", err);
		pr_daemon_free(&d);
		return 1;
	}
	rc = pr_daemon_run(&d);
	pr_daemon_free(&d);
	pr_log_close();
	return rc;
}
