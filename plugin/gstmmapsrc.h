#ifndef GST_MMAP_SRC_H
#define GST_MMAP_SRC_H

#include <gst/base/gstpushsrc.h>

G_BEGIN_DECLS
#define GST_TYPE_MMAP_SRC (gst_mmap_src_get_type ())
G_DECLARE_FINAL_TYPE (GstMmapSrc, gst_mmap_src, GST, MMAP_SRC, GstPushSrc)
GST_ELEMENT_REGISTER_DECLARE (mmapsrc);

G_END_DECLS
#endif
