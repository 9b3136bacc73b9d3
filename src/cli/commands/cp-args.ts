/** cp's '-' as the CLI passes it on (cac's parser drops a bare '-'); a NUL byte makes it no path. */
export const CP_STDIO = "\u0000-";
