/*
 * qpick.c - the store pool's choice between its two queues (qpick.h).
 */
#include "base/qpick.h"

int pr_qpick_bg_max(int pool_size)
{
	int keep = pool_size / 4 > 1 ? pool_size / 4 : 1;

	return pool_size - keep > 1 ? pool_size - keep : 1;
}

enum pr_qpick pr_qpick(const struct pr_qpick_state *s)
{
	int bg_may = s->background > 0 && s->bg_running < s->bg_max;

	if (bg_may && s->bg_waited_us >= PR_QPICK_MAX_WAIT_US)
		return PR_QPICK_BACKGROUND;
	if (s->requests > 0)
		return PR_QPICK_REQUEST;
	return bg_may ? PR_QPICK_BACKGROUND : PR_QPICK_NONE;
}
