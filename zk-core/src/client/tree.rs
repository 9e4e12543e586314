//! Whole-path helpers on [`Client`]: create with parents, ensure a path, delete a subtree
//! (kazoo's `ensure_path` and `delete(recursive=True)`, Curator's `creatingParentsIfNeeded`
//! and `deletingChildrenIfNeeded`).

use super::multi::{CreateMode, CreateOptions};
use super::Client;
use crate::error::{Error, Result};
use crate::path::{join, parent, validate_path};
use crate::proto::Stat;

/// Rounds of a helper whose work others undo meanwhile (a container parent reaped between
/// our creates, a child created under a node we are deleting) before it gives up with the
/// last error.
const MAX_ROUNDS: usize = 16;

impl Client {
    /// Creates a node as [`Client::create`] does, first creating its missing parents in mode
    /// `parents` ([`CreateMode::Persistent`] or [`CreateMode::Container`]) with the node's ACL
    /// (`options`' ACL, else the client's default one). The parents are created in one round
    /// trip (pipelined, top down); a parent that exists already is fine.
    ///
    /// # Errors
    /// As [`Client::create`] (notably [`Error::NodeExists`] for the node itself);
    /// [`Error::BadArguments`] for a `parents` mode other than persistent or container;
    /// [`Error::NoNode`] when parents kept vanishing (containers reaped by the server as soon
    /// as they were created) for 16 rounds.
    ///
    /// # Cancellation safety
    /// Dropped mid-way, some parents (and the node) may have been created.
    pub async fn create_with_parents(
        &self,
        path: &str,
        data: &[u8],
        options: impl Into<CreateOptions>,
        parents: CreateMode,
    ) -> Result<(String, Stat)> {
        if !matches!(parents, CreateMode::Persistent | CreateMode::Container) {
            return Err(Error::BadArguments(format!(
                "parents are created persistent or container, not {parents:?}"
            )));
        }
        let options = options.into();
        let parent_options = CreateOptions { mode: parents, acl: options.acl.clone() };
        let mut last = Error::NoNode;
        for _ in 0..MAX_ROUNDS {
            match self.create(path, data, options.clone()).await {
                Err(Error::NoNode) => {
                    last = Error::NoNode;
                    self.create_ancestors(path, &parent_options).await?;
                }
                other => return other,
            }
        }
        Err(last)
    }

    /// Makes sure `path` exists: creates it and its missing parents as empty persistent nodes
    /// with the client's default ACL (kazoo's `ensure_path`). An existing node is left as it
    /// is.
    ///
    /// # Errors
    /// As [`Client::create_with_parents`], except that an existing node is not an error.
    ///
    /// # Cancellation safety
    /// Dropped mid-way, some of the path may have been created.
    pub async fn ensure_path(&self, path: &str) -> Result<()> {
        if path == "/" {
            return validate_path(path);
        }
        match self.create_with_parents(path, b"", CreateMode::Persistent, CreateMode::Persistent).await {
            Ok(_) | Err(Error::NodeExists) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Creates every ancestor of `path` (not `path`), top down, pipelined: a server applies
    /// one session's requests in order, so each create finds its parent made by the one
    /// before. Existing ones, and ones that vanish meanwhile, are fine (the caller tries
    /// again).
    async fn create_ancestors(&self, path: &str, options: &CreateOptions) -> Result<()> {
        let mut ancestors = Vec::new();
        let mut p = parent(path);
        while p != "/" {
            ancestors.push(p);
            p = parent(p);
        }
        let creates: Vec<_> =
            ancestors.iter().rev().map(|dir| self.create(dir, b"", options.clone())).collect();
        for create in creates {
            match create.await {
                Ok(_) | Err(Error::NodeExists | Error::NoNode) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Deletes `path` and everything below it, children first (Curator's
    /// `deletingChildrenIfNeeded`, kazoo's `delete(recursive=True)`). Each level of the
    /// subtree is listed and deleted with pipelined requests. Nodes that others delete
    /// meanwhile are fine; when others create children under a node being deleted, the
    /// subtree is listed again, up to 16 times.
    ///
    /// # Errors
    /// [`Error::NoNode`] when `path` does not exist when the call starts (once started, its
    /// deletion by someone else is not an error); [`Error::BadArguments`] for the root;
    /// [`Error::NotEmpty`] when children kept appearing for 16 rounds; [`Error::NoAuth`],
    /// [`Error::InvalidPath`] and the session errors, with the subtree partly deleted.
    ///
    /// # Cancellation safety
    /// Dropped mid-way, part of the subtree may be deleted.
    pub async fn delete_recursive(&self, path: &str) -> Result<()> {
        validate_path(path)?;
        if path == "/" {
            return Err(Error::BadArguments("the root cannot be deleted".into()));
        }
        for round in 0..MAX_ROUNDS {
            let levels = match self.subtree(path).await {
                Ok(levels) => levels,
                Err(Error::NoNode) if round == 0 => return Err(Error::NoNode),
                Err(Error::NoNode) => return Ok(()),
                Err(e) => return Err(e),
            };
            if self.delete_levels(&levels).await? {
                return Ok(());
            }
        }
        Err(Error::NotEmpty)
    }

    /// The subtree at `path` level by level, `path` first; each level's listings are sent
    /// together. A node gone meanwhile is skipped; `path` itself missing is `NoNode`.
    async fn subtree(&self, path: &str) -> Result<Vec<Vec<String>>> {
        let mut levels = vec![vec![path.to_owned()]];
        let mut first = true;
        // Each pass goes one level down; a finite tree ends it.
        while let Some(level) = levels.last() {
            let listings: Vec<_> = level.iter().map(|p| (p.clone(), self.get_children(p))).collect();
            let mut next = Vec::new();
            for (p, listing) in listings {
                match listing.await {
                    Ok(children) => next.extend(children.iter().map(|c| join(&p, c))),
                    Err(Error::NoNode) if !first => {}
                    Err(e) => return Err(e),
                }
            }
            first = false;
            if next.is_empty() {
                break;
            }
            levels.push(next);
        }
        Ok(levels)
    }

    /// Deletes `levels` deepest first; `false` when a node had gained children meanwhile
    /// (list again).
    async fn delete_levels(&self, levels: &[Vec<String>]) -> Result<bool> {
        for level in levels.iter().rev() {
            let deletes: Vec<_> = level.iter().map(|p| self.delete(p, None)).collect();
            let mut again = false;
            for delete in deletes {
                match delete.await {
                    Ok(()) | Err(Error::NoNode) => {}
                    Err(Error::NotEmpty) => again = true,
                    Err(e) => return Err(e),
                }
            }
            if again {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
