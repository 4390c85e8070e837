// SPDX-License-Identifier: GPL-2.0 OR MIT
/* cli.c - the program; all of it is tfs_main() in main.c. */
#include "show.h"

int main(int argc, char **argv)
{
	return tfs_main(argc, argv, stdout, stderr);
}
