//! Cutting a long recording into windows (`record --push`): each window is a profile of its
//! own, so memory stays bounded however long pyprobe runs, while the RSS-growth rule keeps its
//! state across the cut (the reading and stacks before it), as if the recording were one.
use super::{Profile, StackKey};

impl Profile {
    /// Close the window: return what was aggregated so far and leave `self` empty but for the
    /// state the next tick needs (the last RSS reading and the stacks charged at it, each
    /// thread's stack at it). `duration` is the window's wall time.
    ///
    /// The page-fault rule's burst state is not carried: a burst cut by the window boundary
    /// charges its tail by the interval rule instead (at most one tick's growth).
    pub fn next_window(&mut self, duration: std::time::Duration) -> Profile {
        let mut fresh = Profile::new(self.title.clone(), self.interval);
        fresh.attribution = self.attribution.clone();
        fresh.memory.start = self.memory.end;
        fresh.memory.end = self.memory.end;
        if let Some((before, rss)) = &self.previous {
            let ids = before
                .iter()
                .map(|&id| fresh.import_stack(self, id))
                .collect();
            fresh.previous = Some((ids, *rss));
        }
        fresh.by_thread_before = self
            .by_thread_before
            .iter()
            .map(|&(tid, id)| (tid, fresh.import_stack(self, id)))
            .collect();
        let mut window = std::mem::replace(self, fresh);
        window.duration = duration;
        window
    }

    /// Intern stack `id` of `other` here (threads and frames included); its id here.
    fn import_stack(&mut self, other: &Profile, id: u32) -> u32 {
        let (thread, frames) = &other.stack_keys[id as usize];
        let info = &other.threads[*thread];
        let thread = match self.thread_index.get(&info.thread_id) {
            Some(&i) => i,
            None => {
                self.threads.push(info.clone());
                self.thread_index
                    .insert(info.thread_id, self.threads.len() - 1);
                self.threads.len() - 1
            }
        };
        let frames = frames
            .iter()
            .map(|&f| self.intern_frame(&other.frames[f as usize]))
            .collect();
        let key: StackKey = (thread, frames);
        if let Some(&id) = self.stack_ids.get(&key) {
            return id;
        }
        let id = self.stack_keys.len() as u32;
        self.stack_keys.push(key.clone());
        self.stack_ids.insert(key, id);
        id
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::profile::{AggregateOptions, Profile};
    use crate::stack::{Frame, ThreadStack};

    fn thread(name: &str) -> ThreadStack {
        ThreadStack {
            thread_id: 7,
            os_tid: Some(7),
            name: None,
            active: true,
            holds_gil: true,
            frames: Arc::from(vec![Frame {
                name: name.into(),
                filename: "app.py".into(),
                line: 3,
            }]),
        }
    }

    /// The growth between the last reading of one window and the first of the next is charged
    /// half to the stack before the cut, half to the one after, in the new window.
    #[test]
    fn growth_across_the_cut_is_charged() {
        let opts = AggregateOptions::default();
        let ms = Duration::from_millis;
        let mut p = Profile::new("t", ms(10));
        p.add_tick(ms(0), &[thread("before")], Some(1000), &opts);
        p.add_tick(ms(10), &[thread("before")], Some(1000), &opts);
        let first = p.next_window(ms(20));
        assert_eq!(first.sample_count, 2);
        assert_eq!(first.duration, ms(20));
        p.add_tick(ms(20), &[thread("after")], Some(3000), &opts);
        assert_eq!(p.sample_count, 1);
        let by_name: Vec<(String, u64)> = p
            .stacks
            .iter()
            .map(|((_, ids), w)| (p.frames[ids[0] as usize].name.to_string(), w.rss_growth))
            .collect();
        assert!(by_name.contains(&("before".into(), 1000)), "{by_name:?}");
        assert!(by_name.contains(&("after".into(), 1000)), "{by_name:?}");
        assert_eq!(p.memory.growth_total, 2000);
    }
}
