/* Helpers shared by the GstCheck tests: file locations of their own under
 * /dev/shm, removing them (data file, the writer's temporary files and its
 * lock file DIR/.NAME.lock) whatever the tests left behind, and a mapping
 * of a file of our own to look at its bytes as any other program could.
 *
 * Check runs each test case in a child process (CK_FORK), which exits at
 * the first failed assertion without running any clean-up code.  So every
 * location carries the pid of the test program's main process, and main()
 * removes whatever matches that prefix once the suite has run, as well as
 * each test removing its own files when it gets to its end. */
#ifndef MMAP_TEST_H
#define MMAP_TEST_H

#include <glib.h>
#include <glib/gstdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define MMAP_TEST_DIR "/dev/shm"

static pid_t mmap_test_main_pid;
static guint mmap_test_counter;

static void
mmap_test_init (void)
{
  mmap_test_main_pid = getpid ();
}

/* A location nobody else uses: program pid, test-process pid, a counter. */
static G_GNUC_UNUSED gchar *
mmap_test_path (const gchar * what)
{
  return g_strdup_printf (MMAP_TEST_DIR "/gst-mmap-test-%d-%d-%s-%u",
      (int) mmap_test_main_pid, (int) getpid (), what, mmap_test_counter++);
}

/* The lock file a writer of `path` holds: DIR/.NAME.lock */
static G_GNUC_UNUSED gchar *
mmap_test_lock_path (const gchar * path)
{
  gchar *dir = g_path_get_dirname (path);
  gchar *base = g_path_get_basename (path);
  gchar *lock = g_strdup_printf ("%s/.%s.lock", dir, base);

  g_free (base);
  g_free (dir);
  return lock;
}

/* Removes the file at `path` (if any), the writer's temporary files next
 * to it (".<name>.XXXXXX") and its lock file (".<name>.lock"). */
static G_GNUC_UNUSED void
mmap_test_remove (const gchar * path)
{
  gchar *dir = g_path_get_dirname (path);
  gchar *base = g_path_get_basename (path);
  gchar *tmp_prefix = g_strdup_printf (".%s.", base);
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *name;

  g_unlink (path);
  while (d && (name = g_dir_read_name (d))) {
    if (g_str_has_prefix (name, tmp_prefix)) {
      gchar *p = g_build_filename (dir, name, NULL);
      g_unlink (p);
      g_free (p);
    }
  }
  if (d)
    g_dir_close (d);
  g_free (tmp_prefix);
  g_free (base);
  g_free (dir);
}

/* Counts the writer's temporary files left next to `path` (not its lock
 * file, which stays while the writer runs). */
static G_GNUC_UNUSED guint
mmap_test_count_temp_files (const gchar * path)
{
  gchar *dir = g_path_get_dirname (path);
  gchar *base = g_path_get_basename (path);
  gchar *tmp_prefix = g_strdup_printf (".%s.", base);
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *name;
  guint n = 0;

  while (d && (name = g_dir_read_name (d)))
    if (g_str_has_prefix (name, tmp_prefix)
        && strlen (name) == strlen (tmp_prefix) + 6)
      n++;
  if (d)
    g_dir_close (d);
  g_free (tmp_prefix);
  g_free (base);
  g_free (dir);
  return n;
}

/* Removes everything any test of this program left under MMAP_TEST_DIR. */
static G_GNUC_UNUSED void
mmap_test_cleanup_all (void)
{
  gchar *prefix = g_strdup_printf ("gst-mmap-test-%d-",
      (int) mmap_test_main_pid);
  gchar *tmp_prefix = g_strdup_printf (".gst-mmap-test-%d-",
      (int) mmap_test_main_pid);
  GDir *d = g_dir_open (MMAP_TEST_DIR, 0, NULL);
  const gchar *name;

  while (d && (name = g_dir_read_name (d))) {
    if (g_str_has_prefix (name, prefix)
        || g_str_has_prefix (name, tmp_prefix)) {
      gchar *p = g_build_filename (MMAP_TEST_DIR, name, NULL);
      g_unlink (p);
      g_free (p);
    }
  }
  if (d)
    g_dir_close (d);
  g_free (tmp_prefix);
  g_free (prefix);
}

/* Writes `len` bytes to a new file at `path` (replacing it), mode 0644.
 * (A new file: written in place, a longer old one would keep its tail.) */
static G_GNUC_UNUSED gboolean
mmap_test_write_file (const gchar * path, const void *data, gsize len)
{
  g_unlink (path);
  return g_file_set_contents_full (path, data, len,
      G_FILE_SET_CONTENTS_NONE, 0644, NULL);
}

/* Maps all of the file at `path` as another program would (shared,
 * read-only unless `writable`); *size is its size.  NULL if it cannot. */
static G_GNUC_UNUSED guint8 *
mmap_test_map (const gchar * path, gboolean writable, gsize * size)
{
  struct stat st;
  void *p;
  int fd = open (path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);

  if (fd < 0)
    return NULL;
  if (fstat (fd, &st) < 0 || st.st_size <= 0) {
    close (fd);
    return NULL;
  }
  p = mmap (NULL, st.st_size, PROT_READ | (writable ? PROT_WRITE : 0),
      MAP_SHARED, fd, 0);
  close (fd);
  if (p == MAP_FAILED)
    return NULL;
  *size = st.st_size;
  return p;
}

static G_GNUC_UNUSED void
mmap_test_unmap (guint8 * base, gsize size)
{
  if (base)
    munmap (base, size);
}

#endif /* MMAP_TEST_H */
