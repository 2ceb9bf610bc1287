// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.37;

import {RLP} from "@openzeppelin/contracts/utils/RLP.sol";

/// @title TrieBuilder
/// @notice Builds small Merkle-Patricia tries in Solidity for tests: root and proof of one key,
///         in the shape `eth_getProof` returns (root first, nodes shorter than 32 bytes embedded
///         in their parent). Keys are 32 bytes (a secure trie's hashed keys); values are the raw
///         bytes stored at the key (for storage, RLP of the slot value: 0x01 for `true`).
/// @dev O(n^2) and recursion-heavy: for a handful of keys in tests only.
library TrieBuilder {
    using RLP for bytes;

    /// @notice Root and proof of `_keys[_target]` in the trie of `_keys` → `_values`.
    /// @param _keys   Distinct 32-byte keys.
    /// @param _values Values, one per key (non-empty).
    /// @param _target Index of the key to prove.
    /// @return root_  The trie root.
    /// @return proof_ The proof nodes, root first.
    function build(bytes32[] memory _keys, bytes[] memory _values, uint256 _target)
        internal
        pure
        returns (bytes32 root_, bytes[] memory proof_)
    {
        uint8[][] memory nibbles = new uint8[][](_keys.length);
        uint256[] memory all = new uint256[](_keys.length);
        for (uint256 i = 0; i < _keys.length; i++) {
            nibbles[i] = _toNibbles(_keys[i]);
            all[i] = i;
        }
        (bytes memory rootNode, bytes[] memory path) = _node(Ctx(nibbles, _values, _target), all, 0);
        root_ = keccak256(rootNode);
        proof_ = path;
    }

    /// @notice The inputs shared by every level of the recursion.
    struct Ctx {
        uint8[][] nib;
        bytes[] vals;
        uint256 target;
    }

    /// @notice Encodes the subtrie of `_idx` below `_depth`; returns it and the proof nodes of
    ///         the target inside it (this node first), or an empty path if the target is not here.
    function _node(Ctx memory _c, uint256[] memory _idx, uint256 _depth)
        private
        pure
        returns (bytes memory enc_, bytes[] memory path_)
    {
        bool here = _contains(_idx, _c.target);
        if (_idx.length == 1) {
            bytes[] memory items = new bytes[](2);
            items[0] = RLP.encode(_hexPrefix(_c.nib[_idx[0]], _depth, 64, true));
            items[1] = RLP.encode(_c.vals[_idx[0]]);
            enc_ = RLP.encode(items);
            path_ = here ? _one(enc_) : new bytes[](0);
            return (enc_, path_);
        }

        uint256 common = _commonPrefix(_c.nib, _idx, _depth);
        if (common > 0) {
            (bytes memory child, bytes[] memory childPath) = _node(_c, _idx, _depth + common);
            bytes[] memory items = new bytes[](2);
            items[0] = RLP.encode(_hexPrefix(_c.nib[_idx[0]], _depth, _depth + common, false));
            items[1] = _ref(child);
            enc_ = RLP.encode(items);
            path_ = here ? _prepend(enc_, child, childPath) : new bytes[](0);
            return (enc_, path_);
        }
        return _branch(_c, _idx, _depth, here);
    }

    /// @notice Encodes a branch node over the keys of `_idx` at `_depth`.
    function _branch(Ctx memory _c, uint256[] memory _idx, uint256 _depth, bool _here)
        private
        pure
        returns (bytes memory enc_, bytes[] memory path_)
    {
        bytes[] memory branch = new bytes[](17);
        bytes[] memory below;
        bytes memory belowNode;
        for (uint256 n = 0; n < 16; n++) {
            uint256[] memory sub = _subset(_c.nib, _idx, _depth, uint8(n));
            if (sub.length == 0) {
                branch[n] = RLP.encode(bytes(""));
                continue;
            }
            (bytes memory child, bytes[] memory childPath) = _node(_c, sub, _depth + 1);
            branch[n] = _ref(child);
            if (childPath.length != 0) {
                below = childPath;
                belowNode = child;
            }
        }
        branch[16] = RLP.encode(bytes(""));
        enc_ = RLP.encode(branch);
        path_ = _here ? _prepend(enc_, belowNode, below) : new bytes[](0);
    }

    /// @notice How a parent refers to a child: embedded if shorter than 32 bytes, else its hash.
    function _ref(bytes memory _child) private pure returns (bytes memory) {
        return _child.length < 32 ? _child : RLP.encode(bytes.concat(keccak256(_child)));
    }

    /// @notice [_self] ++ childPath, where an embedded child is not a proof element of its own.
    function _prepend(bytes memory _self, bytes memory _child, bytes[] memory _childPath)
        private
        pure
        returns (bytes[] memory out_)
    {
        uint256 skip = _child.length < 32 && _childPath.length != 0 ? 1 : 0;
        out_ = new bytes[](1 + _childPath.length - skip);
        out_[0] = _self;
        for (uint256 i = skip; i < _childPath.length; i++) {
            out_[1 + i - skip] = _childPath[i];
        }
    }

    /// @notice OP/Ethereum hex-prefix encoding of nibbles [_from, _to) with the leaf flag.
    function _hexPrefix(uint8[] memory _n, uint256 _from, uint256 _to, bool _leaf)
        private
        pure
        returns (bytes memory out_)
    {
        uint256 len = _to - _from;
        uint8 flag = _leaf ? 2 : 0;
        bool odd = len % 2 == 1;
        out_ = new bytes(len / 2 + 1);
        uint256 pos = _from;
        if (odd) {
            out_[0] = bytes1(((flag + 1) << 4) | _n[pos]);
            pos++;
        } else {
            out_[0] = bytes1(flag << 4);
        }
        for (uint256 i = 1; i < out_.length; i++) {
            out_[i] = bytes1((_n[pos] << 4) | _n[pos + 1]);
            pos += 2;
        }
    }

    function _toNibbles(bytes32 _key) private pure returns (uint8[] memory n_) {
        n_ = new uint8[](64);
        for (uint256 i = 0; i < 32; i++) {
            n_[2 * i] = uint8(_key[i]) >> 4;
            n_[2 * i + 1] = uint8(_key[i]) & 0x0f;
        }
    }

    function _commonPrefix(uint8[][] memory _nib, uint256[] memory _idx, uint256 _depth)
        private
        pure
        returns (uint256 len_)
    {
        while (_depth + len_ < 64) {
            uint8 first = _nib[_idx[0]][_depth + len_];
            for (uint256 i = 1; i < _idx.length; i++) {
                if (_nib[_idx[i]][_depth + len_] != first) return len_;
            }
            len_++;
        }
    }

    function _subset(uint8[][] memory _nib, uint256[] memory _idx, uint256 _depth, uint8 _nibble)
        private
        pure
        returns (uint256[] memory sub_)
    {
        uint256 count;
        for (uint256 i = 0; i < _idx.length; i++) {
            if (_nib[_idx[i]][_depth] == _nibble) count++;
        }
        sub_ = new uint256[](count);
        count = 0;
        for (uint256 i = 0; i < _idx.length; i++) {
            if (_nib[_idx[i]][_depth] == _nibble) sub_[count++] = _idx[i];
        }
    }

    function _contains(uint256[] memory _idx, uint256 _x) private pure returns (bool) {
        for (uint256 i = 0; i < _idx.length; i++) {
            if (_idx[i] == _x) return true;
        }
        return false;
    }

    function _one(bytes memory _x) private pure returns (bytes[] memory out_) {
        out_ = new bytes[](1);
        out_[0] = _x;
    }
}
