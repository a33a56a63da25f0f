package diskstat

import "syscall"

// space is what statfs(2) says of the file system holding dir: the bytes
// an unprivileged process may still use, and the total.
func space(dir string) (free, size uint64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	bs := uint64(st.Bsize)
	return st.Bavail * bs, st.Blocks * bs, true
}
