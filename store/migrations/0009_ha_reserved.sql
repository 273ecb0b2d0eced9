-- 0009_ha_reserved: number 0009 belongs to the standby lease of issue 17
-- part 2 (branch h-ha). This file only keeps the numbers contiguous on a
-- branch without it: on merging, h-ha's 0009 replaces it (drop this file).
SELECT 1;
