/* What mmapsink and mmapsrc share. */
#ifndef GST_MMAP_ELEMENTS_H
#define GST_MMAP_ELEMENTS_H

#include <gst/gst.h>

G_BEGIN_DECLS
/* Properties that the streaming thread copies at start() may change only
 * in NULL or READY (GST_PARAM_MUTABLE_READY is only a label).  Call with
 * the object lock held. */
static inline gboolean
gst_mmap_element_is_stopped (GstElement * element)
{
  return GST_STATE (element) <= GST_STATE_READY &&
      (GST_STATE_PENDING (element) == GST_STATE_VOID_PENDING ||
      GST_STATE_PENDING (element) <= GST_STATE_READY);
}

G_END_DECLS
#endif
